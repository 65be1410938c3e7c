// The kernel targets' flags, from the define Package.swift builds out of the same list it compiles
// the targets with (see `kernelTargetFlags` there): the build identity cannot drift from them.
#include "CTritSupport.h"

#ifndef TRITBENCH_KERNEL_FLAGS
#error "TRITBENCH_KERNEL_FLAGS comes from Package.swift (cSettings of CTritSupport)"
#endif

const char *tritbench_kernel_flags(void) { return TRITBENCH_KERNEL_FLAGS; }
