// SPDX-License-Identifier: Apache-2.0
// The engine's string vectors (userspace/strv.c): osh_strv_insert_take, which puts the Landlock
// build's warnings and report lines where a build in line would have put them, keeps order and
// the terminating NULL, moves ownership and leaves its source empty.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strv.h"

static void fill(struct osh_strv *sv, const char *const *items)
{
	for (; *items; items++)
		assert_int_equal(osh_strv_push(sv, *items), 0);
}

static void assert_strv(const struct osh_strv *sv, const char *const *want)
{
	size_t n = 0;

	for (; want[n]; n++)
		assert_string_equal(sv->v[n], want[n]);
	assert_int_equal(sv->n, n);
	assert_null(sv->v[n]);
}

static void test_insert_take(void **state)
{
	struct osh_strv sv = { 0 }, src = { 0 };

	(void)state;
	/* In the middle, past the capacity the vector had. */
	fill(&sv, (const char *const[]){ "a", "b", "c", "d", "e", "f", "g", NULL });
	fill(&src, (const char *const[]){ "x", "y", NULL });
	assert_int_equal(osh_strv_insert_take(&sv, 2, &src), 0);
	assert_strv(&sv,
		    (const char *const[]){ "a", "b", "x", "y", "c", "d", "e", "f", "g", NULL });
	assert_int_equal(src.n, 0);
	assert_null(src.v);

	/* At the front and at the end. */
	fill(&src, (const char *const[]){ "0", NULL });
	assert_int_equal(osh_strv_insert_take(&sv, 0, &src), 0);
	fill(&src, (const char *const[]){ "z", NULL });
	assert_int_equal(osh_strv_insert_take(&sv, sv.n, &src), 0);
	assert_strv(&sv, (const char *const[]){ "0", "a", "b", "x", "y", "c", "d", "e", "f", "g",
						"z", NULL });

	/* An empty source changes nothing; the source may be reused afterwards. */
	assert_int_equal(osh_strv_insert_take(&sv, 3, &src), 0);
	assert_int_equal(sv.n, 11);
	assert_int_equal(osh_strv_push(&src, "again"), 0);
	assert_int_equal(src.n, 1);
	osh_strv_free(&src);
	osh_strv_free(&sv);

	/* Into an empty vector. */
	fill(&src, (const char *const[]){ "p", "q", NULL });
	assert_int_equal(osh_strv_insert_take(&sv, 0, &src), 0);
	assert_strv(&sv, (const char *const[]){ "p", "q", NULL });
	osh_strv_free(&sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
