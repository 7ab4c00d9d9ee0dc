# Warnings and sanitizers for every target of the project (not for vendors:
# the installed SDK package sets none of this).
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor> $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast>
                    -Wcast-align -Wunused $<$<COMPILE_LANGUAGE:CXX>:-Woverloaded-virtual> $<$<COMPILE_LANGUAGE:CXX>:-Wconversion-null> -Wimplicit-fallthrough
)
if(QUORUM_WERROR)
  add_compile_options(-Werror)
endif()
if(QUORUM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
