// The dict that losslab.optim.schedule(...) builds, read into a
// train::Schedule by every binding that takes one (fit, scheduled_lr,
// Sequential.save, the composite models' fit and save). Fields are checked
// before any integer cast; messages name `caller`.
#ifndef LOSSLAB_PYTHON_SRC_SCHEDULE_DICT_H_
#define LOSSLAB_PYTHON_SRC_SCHEDULE_DICT_H_

#include <map>
#include <string>

#include "losslab/train/optimizer.h"

namespace losslab::python {

train::Schedule schedule_from_dict(const std::map<std::string, double>& d,
                                   const std::string& caller);

}  // namespace losslab::python

#endif  // LOSSLAB_PYTHON_SRC_SCHEDULE_DICT_H_
