// LLVMFuzzerRunDriver comes from libFuzzer at link time; this target only declares it.
#include "CFuzzerDriver.h"
