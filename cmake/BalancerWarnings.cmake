# balancer_set_warnings(<target>): the project's warning set, applied PRIVATE-ly to our own
# targets only so that consumers using add_subdirectory are not affected.
function(balancer_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
    -Wimplicit-fallthrough -Wformat=2 -Wcast-qual -Wundef)
  if(BALANCER_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
