// losslab/losslab.h: the umbrella header.
#ifndef LOSSLAB_LOSSLAB_H_
#define LOSSLAB_LOSSLAB_H_

#include "losslab/core/dispatch.h"
#include "losslab/core/dtype.h"
#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/custom.h"
#include "losslab/losses/class_weights.h"
#include "losslab/losses/classification.h"
#include "losslab/losses/common.h"
#include "losslab/losses/embedding.h"
#include "losslab/losses/generative.h"
#include "losslab/losses/linear_cross_entropy.h"
#include "losslab/losses/regression.h"
#include "losslab/losses/segmentation.h"
#include "losslab/metrics.h"
#include "losslab/metrics_classification.h"
#include "losslab/train/checkpoint.h"
#include "losslab/train/model.h"
#include "losslab/train/models.h"
#include "losslab/train/optimizer.h"
#include "losslab/train/trainer.h"
#include "losslab/version.h"

#endif  // LOSSLAB_LOSSLAB_H_
