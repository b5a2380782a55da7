# SPDX-License-Identifier: Apache-2.0
# bash completion for oshctl: commands, verbs, options, policy files, and sandbox names (asked
# from oshd with `oshctl sandbox list -o json`; nothing is offered when no daemon answers).
# Install: copy to /usr/share/bash-completion/completions/oshctl, or source it.

# _oshctl_sandboxes SOCKET_ARGS...: the sandbox names oshd shows the caller.
_oshctl_sandboxes() {
	"${_oshctl_cmd:-oshctl}" "$@" sandbox list -o json 2>/dev/null |
		sed -n 's/^[[:space:]]*"name":[[:space:]]*"\([a-z0-9._-]*\)".*/\1/p'
}

_oshctl_files() { # policy files: YAML and JSON, and directories to walk into
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(
		compgen -f -- "$1" | grep -E '\.(ya?ml|json)$'
		compgen -d -- "$1"
	)
}

_oshctl() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
	fi
	_oshctl_cmd=${words[0]}

	# Global options come before the command; --socket is passed on to the name lookup.
	local i=1 cmd="" verb="" cmd_at=0 verb_at=0
	local -a sock=()
	while ((i < cword)); do
		case ${words[i]} in
		--socket) sock=(--socket "${words[i + 1]}") && ((i += 2)) && continue ;;
		--socket=*) sock=("${words[i]}") ;;
		-o) ((i += 2)) && continue ;;
		-*) ;;
		*)
			if [ -z "$cmd" ]; then
				cmd=${words[i]} cmd_at=$i
				# Only these two have verbs; the others' words are arguments.
				[ "$cmd" = sandbox ] || [ "$cmd" = policy ] || break
			elif [ -z "$verb" ]; then
				verb=${words[i]} verb_at=$i
				break
			fi
			;;
		esac
		((i++))
	done

	# Option values.
	case $prev in
	-o | --output)
		if [ "$cmd" = policy ] && [ "$verb" = show ]; then
			mapfile -t COMPREPLY < <(compgen -W "text yaml json" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "json text" -- "$cur")
		fi
		return
		;;
	--socket)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	-p | --policy | --against)
		_oshctl_files "$cur"
		return
		;;
	-w | --workdir | --registry)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		return
		;;
	--credentials | --accepted-risks)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	-n | --name | -r | --reason | --rev | -s | --since | --limit | -e | --env | \
		--add-endpoint | --remove-endpoint | --add-binary | --remove-binary | \
		--remove-policy | --add-rule)
		return
		;;
	esac

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--socket -o --help" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "version run doctor policy sandbox logs status" -- "$cur")
		fi
		return
	fi

	# Words after the command (or verb) that are not options: positional arguments.
	local from=$((verb_at ? verb_at : cmd_at)) npos=0 j
	for ((j = from + 1; j < cword; j++)); do
		case ${words[j]} in
		--) npos=-100 ;; # after --: the sandboxed command's words
		-o | -p | --policy | -w | --workdir | -n | --name | -r | --reason | --rev | -s | \
			--since | --limit | -e | --env | --socket | --against | --registry | \
			--credentials | --accepted-risks | --add-endpoint | --remove-endpoint | \
			--add-binary | --remove-binary | --remove-policy | --add-rule) ((j++)) ;;
		-*) ;;
		*) ((npos++)) ;;
		esac
	done
	if ((npos < 0)); then
		# The command run inside a sandbox: complete it like a command line.
		compopt -o default 2>/dev/null
		COMPREPLY=()
		return
	fi

	local opts="" sandboxes=false files=false
	case $cmd in
	run) opts="--policy --name --workdir --quiet --embedded --daemon --help" ;;
	doctor) opts="-o --help" ;;
	version) return ;;
	status) opts="-o --help" ;;
	logs)
		opts="--json --follow --since --limit -o --help"
		((npos == 0)) && sandboxes=true
		;;
	sandbox)
		if [ -z "$verb" ]; then
			mapfile -t COMPREPLY < <(compgen -W "create list get delete exec" -- "$cur")
			return
		fi
		case $verb in
		create) opts="--policy --workdir --reason -o --help" ;;
		list) opts="-o --help" ;;
		get | delete)
			opts="-o --help"
			((npos == 0)) && sandboxes=true
			;;
		exec)
			opts="--workdir --env --no-env --help"
			((npos == 0)) && sandboxes=true
			;;
		esac
		;;
	policy)
		if [ -z "$verb" ]; then
			mapfile -t COMPREPLY < <(compgen -W "validate show compile diff prove set update get list" -- "$cur")
			return
		fi
		case $verb in
		validate | compile | diff) files=true ;;
		show)
			opts="-o"
			files=true
			;;
		prove)
			opts="--against --credentials --registry --accepted-risks --compact -o --help"
			files=true
			;;
		set)
			opts="--reason --no-wait -o --help"
			((npos == 0)) && sandboxes=true
			((npos == 1)) && files=true
			;;
		update)
			opts="--add-endpoint --remove-endpoint --add-binary --remove-binary --remove-policy --add-rule --reason --no-wait -o --help"
			((npos == 0)) && sandboxes=true
			;;
		get)
			opts="--rev -o --help"
			((npos == 0)) && sandboxes=true
			;;
		list)
			opts="-o --help"
			((npos == 0)) && sandboxes=true
			;;
		esac
		;;
	*) return ;;
	esac

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	elif $sandboxes; then
		mapfile -t COMPREPLY < <(compgen -W "$(_oshctl_sandboxes "${sock[@]}")" -- "$cur")
	elif $files; then
		_oshctl_files "$cur"
	fi
}

complete -F _oshctl oshctl
