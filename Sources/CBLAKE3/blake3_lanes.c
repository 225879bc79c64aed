// Chunk-parallel BLAKE3 compression with clang vector extensions; each vector lane is one chunk.
#include "cblake3.h"
#include <string.h>

#if defined(__x86_64__) && defined(__clang__)
#define PEERNET_HAVE_WIDE 1
#endif

#ifdef PEERNET_HAVE_WIDE
static const uint32_t IV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                               0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
static const uint8_t SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

#define DEFINE_KERNEL(NAME, TARGET, LANES)                                                        \
typedef uint32_t NAME##_v __attribute__((vector_size(4 * LANES)));                                \
__attribute__((target(TARGET))) static inline NAME##_v NAME##_rot(NAME##_v x, int n) {            \
    return (x >> n) | (x << (32 - n));                                                            \
}                                                                                                 \
/* One compression in every lane: h (8 words) and m (16 words) in, the new h out. */              \
__attribute__((target(TARGET))) static inline void NAME##_compress(NAME##_v h[8], const NAME##_v m[16], \
        NAME##_v clo, NAME##_v chi, uint32_t blen, uint32_t f) {                                  \
    NAME##_v v[16];                                                                               \
    for (int i = 0; i < 8; i++) v[i] = h[i];                                                      \
    for (int i = 0; i < 4; i++) for (int l = 0; l < LANES; l++) v[8 + i][l] = IV[i];              \
    v[12] = clo; v[13] = chi;                                                                     \
    for (int l = 0; l < LANES; l++) { v[14][l] = blen; v[15][l] = f; }                            \
    for (int r = 0; r < 7; r++) {                                                                 \
        const uint8_t *s = SCHEDULE[r];                                                           \
        _Pragma("clang loop unroll(full)")                                                        \
        for (int g = 0; g < 8; g++) {                                                             \
            static const uint8_t A[8] = {0, 1, 2, 3, 0, 1, 2, 3};                                 \
            static const uint8_t B[8] = {4, 5, 6, 7, 5, 6, 7, 4};                                 \
            static const uint8_t C[8] = {8, 9, 10, 11, 10, 11, 8, 9};                             \
            static const uint8_t D[8] = {12, 13, 14, 15, 15, 12, 13, 14};                         \
            int a = A[g], bb = B[g], c = C[g], d = D[g];                                          \
            v[a] = v[a] + v[bb] + m[s[2 * g]];                                                    \
            v[d] = NAME##_rot(v[d] ^ v[a], 16);                                                   \
            v[c] = v[c] + v[d];                                                                   \
            v[bb] = NAME##_rot(v[bb] ^ v[c], 12);                                                 \
            v[a] = v[a] + v[bb] + m[s[2 * g + 1]];                                                \
            v[d] = NAME##_rot(v[d] ^ v[a], 8);                                                    \
            v[c] = v[c] + v[d];                                                                   \
            v[bb] = NAME##_rot(v[bb] ^ v[c], 7);                                                  \
        }                                                                                         \
    }                                                                                             \
    for (int i = 0; i < 8; i++) h[i] = v[i] ^ v[i + 8];                                           \
}                                                                                                 \
/* LANES chunks at once; with `merge`, the chunks are one aligned subtree (counter a multiple   \
   of LANES) and its chaining value is made here too, lane-parallel, level by level (8, 4, 2,   \
   1 parents for 16 lanes): done one at a time in Swift, the parents cost half as much as the   \
   chunks. Writes LANES chaining values, or one with `merge`. */                                 \
__attribute__((target(TARGET))) static void NAME(const uint8_t *input, const uint32_t key[8],     \
        uint64_t counter, uint32_t flags, uint32_t *out, int merge) {                             \
    NAME##_v h[8], m[16], clo, chi;                                                               \
    for (int i = 0; i < 8; i++) for (int l = 0; l < LANES; l++) h[i][l] = key[i];                 \
    for (int l = 0; l < LANES; l++) {                                                             \
        uint64_t c = counter + (uint64_t)l;                                                       \
        clo[l] = (uint32_t)c; chi[l] = (uint32_t)(c >> 32);                                       \
    }                                                                                             \
    for (int b = 0; b < 16; b++) {                                                                \
        uint32_t f = flags | (b == 0 ? 1u : 0u) | (b == 15 ? 2u : 0u);                            \
        for (int j = 0; j < 16; j++) for (int l = 0; l < LANES; l++) {                            \
            uint32_t w; memcpy(&w, input + (size_t)l * 1024 + (size_t)b * 64 + (size_t)j * 4, 4); \
            m[j][l] = w;                                                                          \
        }                                                                                         \
        NAME##_compress(h, m, clo, chi, 64, f);                                                   \
    }                                                                                             \
    if (!merge) {                                                                                 \
        for (int l = 0; l < LANES; l++) for (int i = 0; i < 8; i++) out[8 * l + i] = h[i][l];      \
        return;                                                                                   \
    }                                                                                             \
    NAME##_v zero = {0};                                                                          \
    for (int n = LANES / 2; n >= 1; n /= 2) {                                                     \
        /* Parent p of this level: the block is child 2p's chaining value, then child 2p+1's. */  \
        for (int j = 0; j < 8; j++) for (int p = 0; p < n; p++) {                                 \
            m[j][p] = h[j][2 * p];                                                                \
            m[8 + j][p] = h[j][2 * p + 1];                                                        \
        }                                                                                         \
        for (int i = 0; i < 8; i++) for (int l = 0; l < LANES; l++) h[i][l] = key[i];             \
        NAME##_compress(h, m, zero, zero, 64, flags | 4u);                                        \
    }                                                                                             \
    for (int i = 0; i < 8; i++) out[i] = h[i][0];                                                 \
}

DEFINE_KERNEL(peernet_blake3_avx2, "avx2", 8)
DEFINE_KERNEL(peernet_blake3_avx512, "avx512f,avx512vl", 16)

static int detected = -1;

int peernet_blake3_lanes(void) {
    int d = __atomic_load_n(&detected, __ATOMIC_RELAXED);
    if (d < 0) {
        __builtin_cpu_init();
        d = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? 16
          : __builtin_cpu_supports("avx2") ? 8 : 0;
        __atomic_store_n(&detected, d, __ATOMIC_RELAXED);
    }
    return d;
}

void peernet_blake3_hash_chunks(const uint8_t *input, const uint32_t key[8], uint64_t counter,
                                uint32_t flags, uint32_t *out) {
    switch (peernet_blake3_lanes()) {
    case 16: peernet_blake3_avx512(input, key, counter, flags, out, 0); break;
    case 8: peernet_blake3_avx2(input, key, counter, flags, out, 0); break;
    default: break;
    }
}

int peernet_blake3_hash_subtree(const uint8_t *input, const uint32_t key[8], uint64_t counter,
                                uint32_t flags, uint32_t out[8]) {
    switch (peernet_blake3_lanes()) {
    case 16: peernet_blake3_avx512(input, key, counter, flags, out, 1); return 16;
    case 8: peernet_blake3_avx2(input, key, counter, flags, out, 1); return 8;
    default: return 0;
    }
}

int peernet_blake3_hash_chunks_lanes(int lanes, const uint8_t *input, const uint32_t key[8],
                                     uint64_t counter, uint32_t flags, uint32_t *out) {
    int available = peernet_blake3_lanes();
    if (lanes == 16 && available == 16) { peernet_blake3_avx512(input, key, counter, flags, out, 0); return 16; }
    if (lanes == 8 && available >= 8) { peernet_blake3_avx2(input, key, counter, flags, out, 0); return 8; }
    return 0;
}

int peernet_blake3_hash_subtree_lanes(int lanes, const uint8_t *input, const uint32_t key[8],
                                      uint64_t counter, uint32_t flags, uint32_t out[8]) {
    int available = peernet_blake3_lanes();
    if (lanes == 16 && available == 16) { peernet_blake3_avx512(input, key, counter, flags, out, 1); return 16; }
    if (lanes == 8 && available >= 8) { peernet_blake3_avx2(input, key, counter, flags, out, 1); return 8; }
    return 0;
}
#else
int peernet_blake3_lanes(void) { return 0; }
int peernet_blake3_hash_chunks_lanes(int lanes, const uint8_t *input, const uint32_t key[8],
                                     uint64_t counter, uint32_t flags, uint32_t *out) {
    (void)lanes; (void)input; (void)key; (void)counter; (void)flags; (void)out;
    return 0;
}
void peernet_blake3_hash_chunks(const uint8_t *input, const uint32_t key[8], uint64_t counter,
                                uint32_t flags, uint32_t *out) {
    (void)input; (void)key; (void)counter; (void)flags; (void)out;
}
int peernet_blake3_hash_subtree(const uint8_t *input, const uint32_t key[8], uint64_t counter,
                                uint32_t flags, uint32_t out[8]) {
    (void)input; (void)key; (void)counter; (void)flags; (void)out;
    return 0;
}
int peernet_blake3_hash_subtree_lanes(int lanes, const uint8_t *input, const uint32_t key[8],
                                      uint64_t counter, uint32_t flags, uint32_t out[8]) {
    (void)lanes; (void)input; (void)key; (void)counter; (void)flags; (void)out;
    return 0;
}
#endif
