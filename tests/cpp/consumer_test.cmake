# Installs the built library into a scratch prefix, then configures, builds
# and runs every example in examples/cpp against it with find_package, the
# way a user outside the tree would:
#   huber_consumer  a Huber loss and its gradient (a known value)
#   custom_loss     a user-written Cauchy functor (losslab/custom.h) fitting a
#                   line through 20 % outliers: the slope must come out ~2,
#                   where mse_loss is pulled away
#   mlp_digits      an MLP trained on data/digits.csv.gz: test accuracy > 0.9
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
# Configures, builds and runs one example; its stdout lands in last_output.
function(build_and_run name)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/cpp/${name}
      -B ${WORK_DIR}/${name} -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
      -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/${name})
  run(${WORK_DIR}/${name}/${name} ${ARGN})
  message(STATUS "${name}:\n${last_output}")
  set(last_output "${last_output}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

build_and_run(huber_consumer)
if(NOT last_output MATCHES "huber_loss = 0.65625")
  message(FATAL_ERROR "unexpected huber_consumer output: ${last_output}")
endif()

build_and_run(custom_loss)
string(REGEX MATCH "cauchy_loss +loss = [0-9.e+-]+ +slope = ([0-9.-]+)" m
       "${last_output}")
set(cauchy_slope "${CMAKE_MATCH_1}")
string(REGEX MATCH "mse_loss +loss = [0-9.e+-]+ +slope = ([0-9.-]+)" m
       "${last_output}")
set(mse_slope "${CMAKE_MATCH_1}")
# True line: slope 2, intercept 0.5 (plus 0.05 sin noise); the outliers (+8
# on every 5th point with x > 0) pull least squares to slope ~3.2.
string(REGEX MATCH "cauchy_loss .*intercept = ([0-9.-]+)" m "${last_output}")
set(cauchy_icpt "${CMAKE_MATCH_1}")
if(cauchy_slope STREQUAL "" OR cauchy_slope LESS 1.95 OR cauchy_slope GREATER 2.05
   OR cauchy_icpt LESS 0.45 OR cauchy_icpt GREATER 0.6 OR mse_slope STREQUAL "" OR mse_slope LESS 2.5)
  message(FATAL_ERROR "custom_loss: the Cauchy fit is off: ${last_output}")
endif()

build_and_run(mlp_digits ${SOURCE_DIR}/data/digits.csv.gz)
string(REGEX MATCH "test accuracy = ([0-9.]+)" m "${last_output}")
if(CMAKE_MATCH_1 STREQUAL "" OR CMAKE_MATCH_1 LESS 0.9)
  message(FATAL_ERROR "mlp_digits: test accuracy below 0.9: ${last_output}")
endif()
