#include "config.h"

/* bench-util-latch.c: the bench programs' helpers that need liblatch (see
 * bench-util.h). */

#include "bench-util.h"

LatchHandle *
bench_open_handle (const BenchTarget *t, char *error, size_t error_size)
{
  LatchHandle *h = latch_handle_new ();
  int rc;

  if (h == NULL)
    {
      g_strlcpy (error, "latch_handle_new failed", error_size);
      return NULL;
    }
  if ((t->socket != NULL && (rc = latch_set_socket_name (h, t->socket)) != LATCH_RC_OK)
      || (t->tcp_host != NULL
          && ((rc = latch_set_unicast_address (h, t->tcp_host)) != LATCH_RC_OK
              || (rc = latch_set_unicast_port (h, t->tcp_port)) != LATCH_RC_OK))
      || (t->mcast_group != NULL
          && ((rc = latch_set_multicast_address (h, t->mcast_group)) != LATCH_RC_OK
              || (rc = latch_set_multicast_port (h, t->mcast_port)) != LATCH_RC_OK))
      || (t->interface != NULL
          && (rc = latch_set_network_interface (h, t->interface)) != LATCH_RC_OK)
      || (rc = latch_set_resource_name (h, t->resource)) != LATCH_RC_OK
      || (rc = latch_set_lock_mode (h, t->mode)) != LATCH_RC_OK
      || (rc = latch_set_daemon_lifespan (h, t->lifespan)) != LATCH_RC_OK
      || (t->level != LATCH_SECURITY_CLEAR
          && ((rc = latch_set_tls_certificate (h, t->tls_certificate)) != LATCH_RC_OK
              || (rc = latch_set_tls_private_key (h, t->tls_private_key)) != LATCH_RC_OK
              || (rc = latch_set_tls_ca_certificate (h, t->tls_ca_certificate))
                     != LATCH_RC_OK
              || (rc = latch_set_tls_priority (h, t->tls_priority)) != LATCH_RC_OK
              || (rc = latch_set_tls_check_peer_id (h, t->level == LATCH_SECURITY_MUTUAL))
                     != LATCH_RC_OK
              || (rc = latch_set_security_level (h, t->level)) != LATCH_RC_OK)))
    {
      g_strlcpy (error, latch_get_error (h), error_size);
      latch_handle_free (h);
      return NULL;
    }
  return h;
}
