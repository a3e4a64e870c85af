#ifndef CFERRYSYSTEM_H
#define CFERRYSYSTEM_H
#include <stdint.h>

/// Starts writeback of a file range without waiting for it (sync_file_range with
/// SYNC_FILE_RANGE_WRITE). Returns 0, or -1 with errno set.
int ferry_start_writeback(int fd, int64_t offset, int64_t length);

#endif
