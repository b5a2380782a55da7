/* SPDX-License-Identifier: Apache-2.0 */
/* The body shared by the YAML and JSON policy fuzz targets: arbitrary bytes through one front end,
 * the schema, and for valid input the canonical dump, its re-parse (must succeed and be a fixed
 * point), compile and revision. Included by exactly one fuzz-*.c per binary. */
#ifndef OSH_FUZZ_POLICY_H
#define OSH_FUZZ_POLICY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(const uint8_t *data, size_t size, enum osh_policy_format fmt)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL, *q = NULL;
	struct osh_policy_image *img = NULL;
	struct osh_policy_diff *d = NULL;
	char *y = NULL, *j = NULL, *y2 = NULL, *text = NULL, rev[65];

	if (osh_policy_parse_buffer("fuzz", (const char *)data, size, fmt, &p, &diags) < 0) {
		for (size_t i = 0; i < diags.n; i++) {
			char *s;

			if (osh_diag_format(&diags.items[i], &s) == 0)
				free(s);
		}
		goto out;
	}
	if (osh_policy_dump(p, OSH_POLICY_FORMAT_YAML, &y) < 0 ||
	    osh_policy_dump(p, OSH_POLICY_FORMAT_JSON, &j) < 0)
		abort();
	/* The canonical form of a valid policy must itself be valid and stable. */
	if (osh_policy_parse_buffer("canon", y, strlen(y), OSH_POLICY_FORMAT_YAML, &q, NULL) < 0)
		abort();
	if (osh_policy_dump(q, OSH_POLICY_FORMAT_YAML, &y2) < 0 || strcmp(y, y2))
		abort();
	osh_policy_free(q);
	q = NULL;
	if (osh_policy_parse_buffer("canon", j, strlen(j), OSH_POLICY_FORMAT_JSON, &q, NULL) < 0)
		abort();
	if (osh_policy_revision(p, rev) < 0)
		abort();
	if (osh_policy_compile(p, &img) == 0 && osh_policy_image_format(img, &text) < 0)
		abort();
	if (osh_policy_diff(p, q, &d) < 0 || d->n_changes != 0)
		abort();
out:
	osh_policy_diff_free(d);
	osh_policy_image_free(img);
	free(text);
	free(y);
	free(y2);
	free(j);
	osh_policy_free(q);
	osh_policy_free(p);
	osh_diag_list_clear(&diags);
}

#endif
