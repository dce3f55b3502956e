; Statements that bring other files in: `#include <x.h>`, `#include "x.h"`.
(preproc_include) @import
