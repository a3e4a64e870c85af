#ifndef FERRY_C_FUZZER_DRIVER_H
#define FERRY_C_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry for a program with its own main (libclang_rt.fuzzer_no_main): parses the
/// libFuzzer flags in argv and runs `callback` on every input.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
