#ifndef PEERNET_CBLAKE3_H
#define PEERNET_CBLAKE3_H
#include <stdint.h>
#include <stddef.h>

// Wide BLAKE3 chunk kernels for x86-64 (AVX2: 8 chunks, AVX-512: 16 chunks at once), chosen at
// run time. Swift's SIMD types compile to baseline SSE2 and scalarise the shifts BLAKE3 needs,
// so the many-chunks hot loop lives here; everything else (tree, API) is Swift.

/// How many chunks one call of peernet_blake3_hash_chunks handles on this CPU: 16, 8, or 0
/// (no wide kernel; use the portable Swift path).
int peernet_blake3_lanes(void);

/// Hashes `lanes` consecutive complete 1024-byte chunks at `input` with chunk counters
/// counter, counter+1, ... and writes each chunk's 8-word chaining value to out[8*i .. 8*i+7].
void peernet_blake3_hash_chunks(const uint8_t *input, const uint32_t key[8], uint64_t counter,
                                uint32_t flags, uint32_t *out);

/// The same with an explicit kernel width (8 or 16), for tests that pin each kernel against the
/// portable path. Returns 0 and writes nothing if this CPU lacks that kernel.
int peernet_blake3_hash_chunks_lanes(int lanes, const uint8_t *input, const uint32_t key[8],
                                     uint64_t counter, uint32_t flags, uint32_t *out);
/// The chaining value of the aligned subtree of `lanes` (16 or 8: what peernet_blake3_lanes
/// says) complete chunks at `input`, whose first chunk counter is a multiple of that count:
/// the chunks and their parents, all in the wide kernel. Returns the chunk count (0: no kernel).
int peernet_blake3_hash_subtree(const uint8_t *input, const uint32_t key[8], uint64_t counter,
                                uint32_t flags, uint32_t out[8]);

/// The same with an explicit kernel width, for tests. Returns 0 if this CPU lacks it.
int peernet_blake3_hash_subtree_lanes(int lanes, const uint8_t *input, const uint32_t key[8],
                                      uint64_t counter, uint32_t flags, uint32_t out[8]);
#endif
