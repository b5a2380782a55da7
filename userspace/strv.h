/* SPDX-License-Identifier: Apache-2.0 */
/* A growable, NULL-terminated vector of owned strings: the engine's warnings, report lines and
 * path lists. The vector owns every element; osh_strv_free() releases them all. */
#ifndef OSH_USERSPACE_STRV_H
#define OSH_USERSPACE_STRV_H

#include <stddef.h>

struct osh_strv {
	char **v; /* NULL-terminated when n > 0 */
	size_t n;
	size_t cap;
};

/* Appends a copy of s. Returns 0 or -ENOMEM. */
int osh_strv_push(struct osh_strv *sv, const char *s);
/* Appends a formatted string. Returns 0 or -ENOMEM. */
int osh_strv_pushf(struct osh_strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes ownership of s (freed on failure too). Returns 0 or -ENOMEM. */
int osh_strv_push_take(struct osh_strv *sv, char *s);
/* Appends copies of every element of src. Returns 0 or -ENOMEM. */
int osh_strv_extend(struct osh_strv *sv, const struct osh_strv *src);
/* Moves every element of src into sv before index at (at <= sv->n), in order; src is left
 * empty. Returns 0 or -ENOMEM (then nothing moved). */
int osh_strv_insert_take(struct osh_strv *sv, size_t at, struct osh_strv *src);
/* Frees the elements and the array; leaves sv empty and reusable. Accepts NULL. */
void osh_strv_free(struct osh_strv *sv);

#endif
