// Parameter counts against SPEC.md §2 check values, and the analytic count against the parameter table.
#include <gtest/gtest.h>

#include "core/counts.h"
#include "core/names.h"
#include "core/param_table.h"

namespace t5 {
namespace {

TEST(Counts, SpecCheckValues) {
  EXPECT_EQ(count_params(parse_shape_name("t5-small")).total, 60506624);
  EXPECT_EQ(count_params(parse_shape_name("t5-efficient-tiny")).total, 15570688);
  EXPECT_EQ(count_params(parse_shape_name("t5-efficient-base")).total, 222903552);
  EXPECT_EQ(count_params(parse_shape_name("t5-efficient-tiny-nl32")).total, 66986752);
  const int64_t small_dl4 = count_params(parse_shape_name("t5-efficient-small-dl4")).total;
  EXPECT_NEAR(double(small_dl4) / 1e6, 52.11, 0.005);
}

TEST(Counts, TableMatchesFormula) {
  for (const char* name : {"t5-small", "t5-v1_1-small", "tiny-el12-kv32", "small-dm128-nh2", "t5-v1_1-base"}) {
    const Shape s = parse_shape_name(name);
    EXPECT_EQ(ParamTable(s).total(), count_params(s).total) << name;
  }
}

}  // namespace
}  // namespace t5
