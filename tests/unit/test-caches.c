/* test-caches.c: the lazily filled caches of sys/machine-id.c (the
 * machine ID) and tls/tls-loader.c (the dlopen()ed TLS module), filled
 * by several threads at once, as several handles may (latch.h: one
 * handle per thread).
 *
 * The threads wait at a barrier, then each asks for the machine ID (from
 * the files and through libdbus) and for the TLS module ($LATCH_TLS_MODULE),
 * in an order that differs between threads.  All must get the same
 * pointers.  A plain run seldom catches a missing lock, the threads rarely
 * colliding on a small machine; test-caches.sh also runs this program
 * under helgrind, which reports any two accesses to the same memory, one
 * of them a write, that no lock, barrier or thread start/join orders:
 * whether or not they collided in that run.
 *
 * Plain pthreads, not GThread: helgrind knows pthread_create, barriers and
 * join, and the outcome must not depend on GLib's own synchronisation
 * (futexes, which helgrind cannot see).
 *
 * Exit status 0: all agree; 1: not.  "test-caches --sanitized" exits 0
 * when this was built with AddressSanitizer (valgrind cannot run it). */

#include "config.h"

#include "tls/tls-loader.h"
#include "common/error.h"
#include "sys/machine-id.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define N_THREADS 8

#if defined(__SANITIZE_ADDRESS__)
#define BUILT_WITH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUILT_WITH_ASAN 1
#endif
#endif
#ifndef BUILT_WITH_ASAN
#define BUILT_WITH_ASAN 0
#endif

typedef struct
{
  int index;
  const char *read_id;  /* latch_machine_id_read() */
  const char *get_id;   /* latch_machine_id_get() */
  const LatchTlsModule *module;
  char *read_error;
  char *get_error;
  char *module_error;
} Worker;

static pthread_barrier_t barrier;

/* The message of error, which is freed (transfer full). */
static char *
message_of (GError *error)
{
  char *text = g_strdup (error->message);

  g_error_free (error);
  return text;
}

static void
ask_read (Worker *w)
{
  GError *error = NULL;

  w->read_id = latch_machine_id_read (&error);
  if (w->read_id == NULL)
    w->read_error = message_of (error);
}

static void
ask_get (Worker *w)
{
  GError *error = NULL;

  w->get_id = latch_machine_id_get (&error);
  if (w->get_id == NULL)
    w->get_error = message_of (error);
}

static void
ask_module (Worker *w)
{
  GError *error = NULL;

  w->module = latch_tls_module_load (&error);
  if (w->module == NULL)
    w->module_error = message_of (error);
}

static void *
work (void *data)
{
  Worker *w = data;

  pthread_barrier_wait (&barrier);
  /* Half the threads fill each cache through the other function first. */
  if (w->index % 2 == 0)
    {
      ask_read (w);
      ask_get (w);
      ask_module (w);
    }
  else
    {
      ask_module (w);
      ask_get (w);
      ask_read (w);
    }
  return NULL;
}

int
main (int argc, char **argv)
{
  Worker workers[N_THREADS];
  pthread_t threads[N_THREADS];
  const char *id = NULL;
  gboolean ok = TRUE;

  if (argc == 2 && strcmp (argv[1], "--sanitized") == 0)
    return BUILT_WITH_ASAN ? 0 : 1;

  /* An error names LATCH_ERROR: its quark is made here, before the
   * threads.  (G_DEFINE_QUARK fills its own static without a lock; it
   * only ever stores the same value, and it is GLib's idiom, not the
   * subject of this test.) */
  (void)latch_error_quark ();

  memset (workers, 0, sizeof workers);
  g_assert_cmpint (pthread_barrier_init (&barrier, NULL, N_THREADS), ==, 0);
  for (int i = 0; i < N_THREADS; i++)
    {
      workers[i].index = i;
      g_assert_cmpint (pthread_create (&threads[i], NULL, work, &workers[i]), ==, 0);
    }
  for (int i = 0; i < N_THREADS; i++)
    g_assert_cmpint (pthread_join (threads[i], NULL), ==, 0);
  pthread_barrier_destroy (&barrier);

  for (int i = 0; i < N_THREADS; i++)
    {
      Worker *w = &workers[i];

      if (w->module == NULL)
        {
          fprintf (stderr, "thread %d: no TLS module: %s\n", i, w->module_error);
          ok = FALSE;
        }
      else if (w->module != workers[0].module || w->module->abi != LATCH_TLS_MODULE_ABI)
        {
          fprintf (stderr, "thread %d: another TLS module table (%p, not %p)\n", i,
                   (const void *)w->module, (const void *)workers[0].module);
          ok = FALSE;
        }
      /* Both functions share one cache: one pointer for all. */
      if (w->read_id != NULL && id == NULL)
        id = w->read_id;
      if (w->get_id != NULL && id == NULL)
        id = w->get_id;
    }
  if (id == NULL)
    fprintf (stderr, "no machine ID on this host (%s; %s): its cache is not exercised\n",
             workers[0].read_error, workers[0].get_error);
  else
    for (int i = 0; i < N_THREADS; i++)
      {
        Worker *w = &workers[i];

        /* The files and libdbus read the same ID: neither may fail when
         * the other succeeded. */
        if (w->read_id != id || w->get_id != id)
          {
            fprintf (stderr, "thread %d: machine ID %p (%s) and %p (%s), not %p (%s)\n", i,
                     (const void *)w->read_id, w->read_id ? w->read_id : w->read_error,
                     (const void *)w->get_id, w->get_id ? w->get_id : w->get_error,
                     (const void *)id, id);
            ok = FALSE;
          }
      }
  for (int i = 0; i < N_THREADS; i++)
    {
      g_free (workers[i].read_error);
      g_free (workers[i].get_error);
      g_free (workers[i].module_error);
    }
  return ok ? 0 : 1;
}
