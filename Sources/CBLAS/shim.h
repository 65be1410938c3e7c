// OpenBLAS CBLAS and LAPACKE (Debian: libopenblas-dev, liblapacke-dev).
#ifndef TRITBENCH_CBLAS_SHIM_H
#define TRITBENCH_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
