#include "losslab/core/view.h"

#include <gtest/gtest.h>

#include "losslab/core/error.h"
#include "losslab/core/reduction.h"

namespace losslab {
namespace {

TEST(Shape, NumpySpelling) {
  EXPECT_EQ(Shape({32, 1}).str(), "(32, 1)");
  EXPECT_EQ(Shape({32}).str(), "(32,)");
  EXPECT_EQ(Shape().str(), "()");
  EXPECT_EQ(Shape({2, 3, 4}).numel(), 24);
  EXPECT_EQ(Shape().numel(), 1);
}

TEST(Shape, TooManyDimsIsAnError) {
  Shape s;
  for (int i = 0; i < kMaxDims; ++i) s.push_back(1);
  EXPECT_THROW(s.push_back(1), Error);
}

TEST(View, Contiguity) {
  float data[6] = {};
  View v{data, DType::kFloat32, Shape{2, 3}, {}};
  EXPECT_TRUE(v.is_contiguous());
  v.strides = Shape{3, 1};
  EXPECT_TRUE(v.is_contiguous());
  v.strides = Shape{1, 2};  // Fortran order
  EXPECT_FALSE(v.is_contiguous());
  View unit{data, DType::kFloat32, Shape{1, 3}, Shape{99, 1}};
  EXPECT_TRUE(unit.is_contiguous());  // extent-1 dims may carry any stride
}

TEST(Reduction, ParseAndName) {
  EXPECT_EQ(parse_reduction("none", "f"), Reduction::kNone);
  EXPECT_EQ(parse_reduction("sum", "f"), Reduction::kSum);
  EXPECT_EQ(reduction_name(Reduction::kMean), "mean");
  try {
    parse_reduction("avg", "huber_loss");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kValue);
    EXPECT_NE(std::string(e.what()).find("huber_loss: reduction='avg'"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace losslab
