; `import Foundation`, `import struct Foo.Bar`, `@testable import App`.
(import_declaration) @import
