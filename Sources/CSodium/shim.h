#ifndef PEERNET_CSODIUM_SHIM_H
#define PEERNET_CSODIUM_SHIM_H
#include <sodium.h>
#endif
