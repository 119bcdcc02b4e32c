# cmake -DSOURCE_DIR=... -P check_serialization_gateway.cmake
#
# Standard containers are serialized through runtime/include/perennial/serialization.hpp alone:
# it gives them the settings every message takes (no class header, no tracking). A source that
# includes Boost.Serialization's container headers itself may instantiate the same templates
# without those settings, and the program then holds two definitions of one serializer, of which
# the linker keeps one at random. Fails naming every such include. (std::string is a primitive
# to Boost, never given a class header: its header may be included anywhere.)
set(folders accounting app checkpoint coordinator examples runtime tests worker)
set(gateway runtime/include/perennial/serialization.hpp)
set(pattern "#[ \t]*include[ \t]*[<\"]boost/serialization/(vector|map|utility|optional|set|list|deque|array|unordered_map|unordered_set)\\.hpp")
set(offenders)
set(count 0)
foreach(folder IN LISTS folders)
  file(GLOB_RECURSE sources RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/${folder}/*.hpp ${SOURCE_DIR}/${folder}/*.cpp
       ${SOURCE_DIR}/${folder}/*.h)
  foreach(source IN LISTS sources)
    math(EXPR count "${count} + 1")
    if(source STREQUAL gateway)
      continue()
    endif()
    file(STRINGS ${SOURCE_DIR}/${source} hits REGEX "${pattern}")
    foreach(hit IN LISTS hits)
      string(STRIP "${hit}" hit)
      list(APPEND offenders "  ${source}: ${hit}")
    endforeach()
  endforeach()
endforeach()
if(count LESS 100)
  message(FATAL_ERROR "only ${count} sources found under ${SOURCE_DIR}: is SOURCE_DIR the project's top folder?")
endif()
if(offenders)
  list(JOIN offenders "\n" text)
  message(FATAL_ERROR "these sources include Boost.Serialization's container headers themselves; include "
                      "<perennial/serialization.hpp> instead (see its header comment):\n${text}")
endif()
message(STATUS "${count} sources: standard containers are serialized through ${gateway} alone")
