; `require 'x'`, `require_relative 'x'`, `load 'x.rb'`: plain calls without a receiver.
((call
   !receiver
   method: (identifier) @_fn) @import
 (#any-of? @_fn "require" "require_relative" "load"))
