#ifndef PEERNET_COPENSSLCRYPTO_SHIM_H
#define PEERNET_COPENSSLCRYPTO_SHIM_H
// Only libcrypto's EVP AEAD interface is used: ChaCha20-Poly1305 for the transfer fast path
// (OpenSSL's vectorised code runs it 2.7x faster than libsodium's on this project's machines).
#include <openssl/evp.h>
#endif
