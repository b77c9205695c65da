/* error.h: latch's GError domains.
 *
 * LATCH_ERROR: failures of the program (options, files, sockets, daemon).
 * LATCH_PROTO_ERROR: a peer sent bytes that are not a valid message.
 * Outcomes that are not failures (busy, queued) are LatchRc values, not
 * errors.  cli/main.c alone maps errors to exit statuses. */
#ifndef LATCH_COMMON_ERROR_H
#define LATCH_COMMON_ERROR_H

#include <glib.h>

G_BEGIN_DECLS

#define LATCH_ERROR (latch_error_quark ())
#define LATCH_PROTO_ERROR (latch_proto_error_quark ())

typedef enum
{
  LATCH_ERROR_FAILED,            /* anything not listed below */
  LATCH_ERROR_INVALID_OPTION,    /* an option or configuration value */
  LATCH_ERROR_CONFIG_FILE,       /* a configuration file is unreadable or malformed */
  LATCH_ERROR_INVALID_NAME,      /* a resource name */
  LATCH_ERROR_SOCKET_DIR,        /* the socket directory is missing or unsafe */
  LATCH_ERROR_NO_DAEMON,         /* none answers and none may be started */
  LATCH_ERROR_DAEMON_START,      /* a daemon could not be started */
  LATCH_ERROR_CONNECT,           /* connecting to the daemon failed */
  LATCH_ERROR_IO,                /* read/write on a connection failed */
  LATCH_ERROR_CONNECTION_CLOSED, /* the peer closed the connection */
  LATCH_ERROR_TIMEOUT,           /* a deadline passed */
  LATCH_ERROR_MACHINE_ID,        /* no D-Bus machine ID */
  LATCH_ERROR_EXEC,              /* the command could not be executed */
  LATCH_ERROR_TLS,               /* TLS: configuration, credentials, or a failure not below */
  LATCH_ERROR_TLS_CLEAR_PEER,    /* TLS expected, the peer spoke clear text */
  LATCH_ERROR_TLS_VERIFY,        /* we refused the peer's certificate */
  LATCH_ERROR_TLS_REFUSED,       /* the peer refused us (its TLS alert) */
  LATCH_ERROR_TLS_PEER_ID,       /* announced ID differs from the certificate's */
  LATCH_ERROR_TLS_NOT_ALLOWED,   /* the peer's ID is not in the allow-list */
} LatchErrorCode;

typedef enum
{
  LATCH_PROTO_ERROR_TOO_LONG,    /* over LATCH_MSG_MAX_SIZE */
  LATCH_PROTO_ERROR_MALFORMED,   /* not (canonical) XML */
  LATCH_PROTO_ERROR_LEVEL,       /* level other than LATCH_PROTO_LEVEL */
  LATCH_PROTO_ERROR_UNEXPECTED,  /* unknown element/attribute, bad verb/step, missing part */
  LATCH_PROTO_ERROR_VALUE,       /* an attribute value out of range or undecodable */
} LatchProtoErrorCode;

GQuark latch_error_quark (void);

/* Sets a LATCH_ERROR with a printf-style message; returns FALSE, so that
 * a failing check reads `return latch_error_set (error, CODE, ...);`. */
gboolean latch_error_set (GError **error, int code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
GQuark latch_proto_error_quark (void);

G_END_DECLS

#endif
