// io_uring through liburing. Filled in by the io_uring backend; until then the
// build reports io_uring as not built.
#include "CFeedReactor.h"

int fr_uring_built(void) {
#ifdef FR_HAVE_LIBURING
    return 1;
#else
    return 0;
#endif
}
