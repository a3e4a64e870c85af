#include <isa-l/igzip_lib.h>

/// The level-1 buffer size ISA-L recommends (a macro expression Swift does not import).
static const unsigned int ferry_isal_level1_buffer_size = ISAL_DEF_LVL1_DEFAULT;
