// The number formats every table of the tool prints (core/describe.h), against values written out by
// hand: thousands separators, decimal units (K/M/G/T, kB/MB/GB), and the carry at a unit's edge (a value
// that rounds to 1000 of one unit is printed as 1 of the next: 999,999 is "1.00M", not "1000.00K").
#include <gtest/gtest.h>

#include "core/describe.h"
#include "core/names.h"

namespace t5 {
namespace {

TEST(Describe, WithCommas) {
  EXPECT_EQ(with_commas(0), "0");
  EXPECT_EQ(with_commas(999), "999");
  EXPECT_EQ(with_commas(1000), "1,000");
  EXPECT_EQ(with_commas(60506624), "60,506,624");   // t5-small (SPEC §2)
  EXPECT_EQ(with_commas(-1234567), "-1,234,567");
}

TEST(Describe, HumanCount) {
  EXPECT_EQ(human_count(0), "0");
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1000), "1.00K");
  EXPECT_EQ(human_count(60506624), "60.51M");
  EXPECT_EQ(human_count(141981401088.0), "141.98G");       // t5-efficient-base forward (SPEC §3)
  EXPECT_EQ(human_count(54520858017792.0), "54.52T");
  EXPECT_EQ(human_count(-1500), "-1.50K");
  // At a unit's edge: 999.6 rounds to 1000 (no decimals below 1000), 999,999 to 1000.00K, 999,995,000 to
  // 1000.00M: each is 1 of the next unit.
  EXPECT_EQ(human_count(999.6), "1.00K");
  EXPECT_EQ(human_count(999999), "1.00M");
  EXPECT_EQ(human_count(999995000), "1.00G");
  EXPECT_EQ(human_count(999994000), "999.99M");
  EXPECT_EQ(human_count(2.5e21), "2500.00E");               // past the largest unit the value grows
}

TEST(Describe, HumanBytes) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(999), "999 B");
  EXPECT_EQ(human_bytes(1500), "1.5 kB");
  EXPECT_EQ(human_bytes(62282752), "62.3 MB");              // t5-efficient-tiny's fp32 weights, 4 x 15,570,688
  EXPECT_EQ(human_bytes(9692794368.0), "9.7 GB");
  EXPECT_EQ(human_bytes(999.7), "1.0 kB");
  EXPECT_EQ(human_bytes(999960000), "1.0 GB");              // 999.96 MB would print as 1000.0 MB
  EXPECT_EQ(human_bytes(999940000), "999.9 MB");
}

// `info --json` states the sharing flags and counts with them (small-skv: 55,788,032 by hand in
// tests/counts_test.cpp).
TEST(Describe, SharingFlagsInJson) {
  const nlohmann::json j = describe_shape(parse_shape_name("small-skv"), {});
  EXPECT_EQ(j["shared_kv"], true);
  EXPECT_EQ(j["shared_heads"], false);
  EXPECT_EQ(j["params"], 55788032);
  EXPECT_EQ(describe_shape(parse_shape_name("base-sh"), {})["shared_heads"], true);
}

}  // namespace
}  // namespace t5
