; Statements that bring other code in: `#include`, `using namespace std;`, `using std::x;`.
(preproc_include) @import
(translation_unit (using_declaration) @import)
