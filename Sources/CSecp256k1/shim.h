#ifndef PEERNET_CSECP256K1_SHIM_H
#define PEERNET_CSECP256K1_SHIM_H
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <secp256k1_ecdh.h>

// SECP256K1_CONTEXT_* are int macros; give Swift typed constants.
static const unsigned int peernet_secp256k1_context_none = SECP256K1_CONTEXT_NONE;
static const unsigned int peernet_secp256k1_ec_compressed = SECP256K1_EC_COMPRESSED;
static const unsigned int peernet_secp256k1_ec_uncompressed = SECP256K1_EC_UNCOMPRESSED;
#endif
