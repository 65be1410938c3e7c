// What of papi.h does not import into Swift: function-like macros and a few constants.
#ifndef TRITBENCH_CPAPI_SHIM_H
#define TRITBENCH_CPAPI_SHIM_H
#include <papi.h>

/// PAPI_VER_CURRENT is a function-like macro; Swift cannot import it.
static inline int tritbench_papi_ver_current(void) { return PAPI_VER_CURRENT; }
/// Components of a PAPI version number (PAPI_VERSION_MAJOR etc. are macros taking an argument).
static inline int tritbench_papi_version_major(int v) { return PAPI_VERSION_MAJOR(v); }
static inline int tritbench_papi_version_minor(int v) { return PAPI_VERSION_MINOR(v); }
static inline int tritbench_papi_version_revision(int v) { return PAPI_VERSION_REVISION(v); }
static inline int tritbench_papi_null(void) { return PAPI_NULL; }
static inline int tritbench_papi_ok(void) { return PAPI_OK; }
static inline int tritbench_papi_enoevnt(void) { return PAPI_ENOEVNT; }
static inline int tritbench_papi_ecnflct(void) { return PAPI_ECNFLCT; }
static inline int tritbench_papi_enocntr(void) { return PAPI_ENOCNTR; }
static inline int tritbench_papi_eperm(void) { return PAPI_EPERM; }
static inline int tritbench_papi_ecmp_disabled(void) { return PAPI_ECMP_DISABLED; }
static inline int tritbench_papi_enoinit(void) { return PAPI_ENOINIT; }
static inline int tritbench_papi_esys(void) { return PAPI_ESYS; }
static inline int tritbench_papi_einval(void) { return PAPI_EINVAL; }
static inline int tritbench_papi_enosupp(void) { return PAPI_ENOSUPP; }

#include <pthread.h>
/// The thread id PAPI keys its per-thread state by.
static unsigned long tritbench_papi_thread_id(void) { return (unsigned long)pthread_self(); }
/// PAPI_thread_init with pthread ids, so event sets created on different threads get their own
/// PAPI thread state instead of racing on the single-thread default (a crash seen under the
/// parallel test runner).
static inline int tritbench_papi_thread_init(void) { return PAPI_thread_init(tritbench_papi_thread_id); }
#endif
