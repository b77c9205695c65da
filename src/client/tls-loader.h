/* tls-loader.h: moved to tls/tls-loader.h, so that the daemon loads the
 * TLS module too without including anything under client/.  This header
 * stays only for the files that still include it here
 * (tests/unit/test-caches.c); remove it once they include the new one. */
#ifndef LATCH_CLIENT_TLS_LOADER_H
#define LATCH_CLIENT_TLS_LOADER_H

#include "tls/tls-loader.h"

#endif
