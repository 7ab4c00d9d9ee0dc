// compute_hierarchy against the contract's definitions taken literally
// (atoms as sets, parents by subset test over every pair, leaves by
// counting, scope by intersection) on random acyclic unit graphs.
#include <quorum/election/definition.hpp>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace quorum::election;

std::set<std::string> atoms_of(const ElectionDefinition& d, const std::string& id,
                               std::map<std::string, std::set<std::string>>& memo) {
  if (auto found = memo.find(id); found != memo.end()) {
    return found->second;
  }
  const Unit& unit = *std::find_if(d.units.begin(), d.units.end(), [&](const Unit& u) { return u.id == id; });
  std::set<std::string> out;
  if (unit.composing.empty()) {
    out.insert(id);
  }
  for (const std::string& child : unit.composing) {
    const std::set<std::string> more = atoms_of(d, child, memo);
    out.insert(more.begin(), more.end());
  }
  return memo[id] = out;
}

RC_GTEST_PROP(ElectionHierarchy, MatchesTheContractLiterally, ()) {
  const int atoms = *rc::gen::inRange(1, 25);
  const int rollups = *rc::gen::inRange(0, 15);
  ElectionDefinition d;
  for (int i = 0; i < atoms; ++i) {
    d.units.push_back({"a" + std::to_string(i), "A", "precinct", {}});
  }
  for (int i = 0; i < rollups; ++i) {
    Unit unit{"r" + std::to_string(i), "R", "other", {}};
    const int before = static_cast<int>(d.units.size());
    const auto picks = *rc::gen::container<std::vector<int>>(static_cast<size_t>(*rc::gen::inRange(1, 6)),
                                                             rc::gen::inRange(0, before));
    for (const int pick : std::set<int>(picks.begin(), picks.end())) {
      unit.composing.push_back(d.units[static_cast<size_t>(pick)].id);  // earlier units only: acyclic
    }
    d.units.push_back(std::move(unit));
  }
  const int total = static_cast<int>(d.units.size());
  if (*rc::gen::arbitrary<bool>()) {
    const auto styles =
        *rc::gen::container<std::vector<int>>(static_cast<size_t>(*rc::gen::inRange(1, 6)), rc::gen::inRange(0, total));
    for (const int style : std::set<int>(styles.begin(), styles.end())) {
      d.ballot_style_units.push_back(d.units[static_cast<size_t>(style)].id);
    }
  }
  const int contests = *rc::gen::inRange(0, 6);
  for (int i = 0; i < contests; ++i) {
    const std::string district = d.units[static_cast<size_t>(*rc::gen::inRange(0, total))].id;
    d.contests.push_back({"c" + std::to_string(i), "C", "candidate", district, 1, false, 0, {}});
  }

  auto hierarchy = compute_hierarchy(d);
  RC_ASSERT(hierarchy.ok());
  RC_ASSERT(hierarchy->units.size() == d.units.size());

  std::map<std::string, std::set<std::string>> memo;
  std::set<std::string> leaves;
  if (d.ballot_style_units.empty()) {
    for (const Unit& unit : d.units) {
      if (unit.composing.empty()) {
        leaves.insert(unit.id);
      }
    }
  } else {
    leaves.insert(d.ballot_style_units.begin(), d.ballot_style_units.end());
  }
  std::map<std::string, std::vector<std::string>> parents;
  for (const Unit& u : d.units) {
    const std::set<std::string> mine = atoms_of(d, u.id, memo);
    for (const Unit& r : d.units) {
      const std::set<std::string> theirs = atoms_of(d, r.id, memo);
      if (r.id != u.id && std::includes(theirs.begin(), theirs.end(), mine.begin(), mine.end())) {
        parents[u.id].push_back(r.id);
      }
    }
    std::sort(parents[u.id].begin(), parents[u.id].end());
  }
  RC_ASSERT(hierarchy->leaf_count == leaves.size());
  std::vector<std::string> top;
  for (size_t i = 0; i < d.units.size(); ++i) {
    const Unit& u = d.units[i];
    const UnitConfig& got = hierarchy->units[i];
    RC_ASSERT(got.id == u.id);
    RC_ASSERT(got.leaf == leaves.contains(u.id));
    RC_ASSERT(got.parents == parents[u.id]);
    uint64_t count = 0;
    for (const std::string& leaf : leaves) {
      const auto& of_leaf = parents[leaf];
      count += leaf == u.id || std::find(of_leaf.begin(), of_leaf.end(), u.id) != of_leaf.end() ? 1 : 0;
    }
    RC_ASSERT(got.leaves == count);
    std::vector<size_t> scope;
    const std::set<std::string> mine = atoms_of(d, u.id, memo);
    for (size_t c = 0; c < d.contests.size(); ++c) {
      const std::set<std::string> district = atoms_of(d, d.contests[c].district, memo);
      if (std::any_of(district.begin(), district.end(), [&](const std::string& a) { return mine.contains(a); })) {
        scope.push_back(c);
      }
    }
    RC_ASSERT(got.contests == scope);
    if (parents[u.id].empty()) {
      top.push_back(u.id);
    }
  }
  RC_ASSERT(hierarchy->top == top);
}

}  // namespace
