# Included by CMake after every project() of llama.cpp and ggml (CMAKE_PROJECT_INCLUDE, set
# in .cargo/config.toml, which llama-cpp-sys-2 passes on): keeps ggml's AMX kernels out of
# every build, a plain `cargo build` or `cargo install --path .` included. A native
# llama.cpp build with them died with SIGILL on machines of the kind quill is developed
# on. x86-64 only, C and C++ only (never handed to nvcc).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    add_compile_options(
        "$<$<COMPILE_LANGUAGE:C,CXX>:-mno-amx-tile>"
        "$<$<COMPILE_LANGUAGE:C,CXX>:-mno-amx-int8>"
        "$<$<COMPILE_LANGUAGE:C,CXX>:-mno-amx-bf16>"
    )
endif()
