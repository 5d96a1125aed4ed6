// PSI row counting built with AVX2 (see drift_psi_rows.hpp; picked at run time).
#include "drift_psi_rows.hpp"

PIPEWARD_PSI_ROWS_DEFINE(avx2, 32)
