#include "config.h"

#include "common/error.h"

G_DEFINE_QUARK (latch-error-quark, latch_error)
G_DEFINE_QUARK (latch-proto-error-quark, latch_proto_error)
