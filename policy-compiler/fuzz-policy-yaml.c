// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary bytes through the YAML policy front end (see fuzz-policy.h).
#include "fuzz-policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_one(data, size, OSH_POLICY_FORMAT_YAML);
	return 0;
}
