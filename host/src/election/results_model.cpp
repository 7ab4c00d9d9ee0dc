// build_results(): projections (msgpack) -> the Results model. See results.hpp.
#include <quorum/election/keys.hpp>
#include <quorum/election/results.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <set>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace quorum::election {
namespace {

// A projection without the documented layout; caught at the seam.
struct LayoutError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The election actor exists but holds no definition yet.
struct NotDefined : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One decoded projection and the actor it came from (for error messages).
class Doc {
 public:
  Doc(std::string actor, std::string_view bytes) : actor_(std::move(actor)) {
    try {
      handle_ = msgpack::unpack(bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      fail("is not msgpack (" + std::string(e.what()) + ")");
    }
  }
  const msgpack::object& root() const { return handle_.get(); }
  [[noreturn]] void fail(const std::string& what) const { throw LayoutError("projection of " + actor_ + " " + what); }

  const msgpack::object* find(const msgpack::object& map, std::string_view key) const {
    if (map.type != msgpack::type::MAP) {
      fail("has a non-map where a map was expected (looking for '" + std::string(key) + "')");
    }
    for (uint32_t i = 0; i < map.via.map.size; ++i) {
      const msgpack::object_kv& kv = map.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key) {
        return &kv.val;
      }
    }
    return nullptr;
  }
  // Present and not nil, or nullptr.
  const msgpack::object* value(const msgpack::object& map, std::string_view key) const {
    const msgpack::object* found = find(map, key);
    return found == nullptr || found->type == msgpack::type::NIL ? nullptr : found;
  }
  std::string str(const msgpack::object& map, std::string_view key, bool required = false) const {
    const msgpack::object* v = value(map, key);
    if (v == nullptr) {
      if (required) {
        fail("lacks '" + std::string(key) + "'");
      }
      return {};
    }
    return as_str(*v, key);
  }
  std::string as_str(const msgpack::object& v, std::string_view what) const {
    if (v.type != msgpack::type::STR) {
      fail("has a non-string '" + std::string(what) + "'");
    }
    return {v.via.str.ptr, v.via.str.size};
  }
  uint64_t uint(const msgpack::object& map, std::string_view key) const {
    const msgpack::object* v = value(map, key);
    if (v == nullptr) {
      return 0;
    }
    return as_uint(*v, key);
  }
  uint64_t as_uint(const msgpack::object& v, std::string_view what) const {
    if (v.type != msgpack::type::POSITIVE_INTEGER) {
      fail("has '" + std::string(what) + "' that is not a non-negative integer");
    }
    return v.via.u64;
  }
  int64_t integer(const msgpack::object& map, std::string_view key) const {
    const msgpack::object* v = value(map, key);
    if (v == nullptr) {
      return 0;
    }
    if (v->type == msgpack::type::POSITIVE_INTEGER) {
      return static_cast<int64_t>(std::min<uint64_t>(v->via.u64, INT64_MAX));
    }
    if (v->type == msgpack::type::NEGATIVE_INTEGER) {
      return v->via.i64;
    }
    fail("has '" + std::string(key) + "' that is not an integer");
  }
  bool boolean(const msgpack::object& map, std::string_view key) const {
    const msgpack::object* v = value(map, key);
    if (v == nullptr) {
      return false;
    }
    if (v->type != msgpack::type::BOOLEAN) {
      fail("has '" + std::string(key) + "' that is not a boolean");
    }
    return v->via.boolean;
  }
  std::span<const msgpack::object> array(const msgpack::object& map, std::string_view key) const {
    const msgpack::object* v = value(map, key);
    if (v == nullptr) {
      return {};
    }
    if (v->type != msgpack::type::ARRAY) {
      fail("has '" + std::string(key) + "' that is not an array");
    }
    return {v->via.array.ptr, v->via.array.size};
  }
  std::span<const msgpack::object_kv> entries(const msgpack::object& map, std::string_view key) const {
    const msgpack::object* v = value(map, key);
    if (v == nullptr) {
      return {};
    }
    if (v->type != msgpack::type::MAP) {
      fail("has '" + std::string(key) + "' that is not a map");
    }
    return {v->via.map.ptr, v->via.map.size};
  }
  std::vector<std::string> strings(const msgpack::object& map, std::string_view key) const {
    std::vector<std::string> out;
    for (const msgpack::object& item : array(map, key)) {
      out.push_back(as_str(item, key));
    }
    return out;
  }
  void expect_kind(std::string_view kind) const {
    if (root().type != msgpack::type::MAP) {
      fail("is not a map");
    }
    const std::string found = str(root(), "kind");
    if (found != kind) {
      fail("has kind '" + found + "', expected '" + std::string(kind) + "'");
    }
  }

 private:
  std::string actor_;
  msgpack::object_handle handle_;
};

struct ContestDef {
  std::string id, name, kind, district;
  uint64_t votes_allowed = 0;
  bool rcv = false;
  std::vector<SelectionResult> selections;
};

struct Definition {
  std::string id, name, date, source;
  uint64_t units = 0, leaves = 0, pages = 0;
  std::vector<std::string> top;
  std::vector<ContestDef> contests;
  std::vector<Candidate> candidates;
  std::vector<Party> parties;
};

struct ElectionState {
  Definition definition;
  uint64_t reported_leaves = 0;
  int64_t updated_ms = 0;
};

ElectionState parse_election(std::string_view eid, std::string_view bytes) {
  if (bytes.empty()) {  // the handler never changed the actor
    throw NotDefined("election " + std::string(eid) + " has no definition yet (load it first)");
  }
  const Doc doc(election_key(eid), bytes);
  doc.expect_kind("election");
  const msgpack::object* def = doc.value(doc.root(), "definition");
  if (def == nullptr) {
    throw NotDefined("election " + std::string(eid) + " has no definition yet (load it first)");
  }
  ElectionState state;
  state.reported_leaves = doc.uint(doc.root(), "reported_leaves");
  state.updated_ms = doc.integer(doc.root(), "updated_ms");
  Definition& d = state.definition;
  d.id = doc.str(*def, "id", true);
  d.name = doc.str(*def, "name");
  d.date = doc.str(*def, "date");
  d.source = doc.str(*def, "source");
  d.units = doc.uint(*def, "units");
  d.leaves = doc.uint(*def, "leaves");
  d.pages = doc.uint(*def, "pages");
  d.top = doc.strings(*def, "top");
  const auto contests = doc.array(*def, "contests");
  if (contests.size() > kMaxResultsContests) {
    doc.fail("has " + std::to_string(contests.size()) + " contests (at most " + std::to_string(kMaxResultsContests) +
             ")");
  }
  for (const msgpack::object& c : contests) {
    ContestDef contest;
    contest.id = doc.str(c, "id", true);
    contest.name = doc.str(c, "name");
    contest.kind = doc.str(c, "kind");
    contest.district = doc.str(c, "district", true);
    contest.votes_allowed = doc.uint(c, "votes_allowed");
    contest.rcv = doc.boolean(c, "rcv");
    for (const msgpack::object& s : doc.array(c, "selections")) {
      SelectionResult sel;
      sel.id = doc.str(s, "id", true);
      sel.name = doc.str(s, "name");
      sel.party = doc.str(s, "party");
      sel.candidates = doc.strings(s, "candidates");
      sel.write_in = doc.boolean(s, "write_in");
      contest.selections.push_back(std::move(sel));
    }
    d.contests.push_back(std::move(contest));
  }
  for (const msgpack::object& c : doc.array(*def, "candidates")) {
    d.candidates.push_back({doc.str(c, "id", true), doc.str(c, "name"), doc.str(c, "party")});
  }
  for (const msgpack::object& p : doc.array(*def, "parties")) {
    d.parties.push_back({doc.str(p, "id", true), doc.str(p, "name"), doc.str(p, "abbreviation")});
  }
  return state;
}

// A UnitConfig map into `unit`.
void read_config(const Doc& doc, const msgpack::object& config, UnitResult& unit) {
  unit.id = doc.str(config, "id", true);
  unit.name = doc.str(config, "name");
  unit.type = doc.str(config, "type");
  unit.leaf = doc.boolean(config, "leaf");
  unit.parents = doc.strings(config, "parents");
  unit.leaves = doc.uint(config, "leaves");
  unit.in_scope.clear();
  for (const msgpack::object_kv& kv : doc.entries(config, "contests")) {
    unit.in_scope.push_back(doc.as_str(kv.key, "contests key"));
  }
}

std::vector<UnitResult> parse_directory(std::string_view eid, std::string_view bytes) {
  if (bytes.empty()) {
    return {};
  }
  const Doc doc(election_key(eid) + "/dir/?", bytes);
  doc.expect_kind("directory");
  std::vector<UnitResult> units;
  for (const msgpack::object& config : doc.array(doc.root(), "units")) {
    UnitResult unit;
    read_config(doc, config, unit);
    units.push_back(std::move(unit));
  }
  return units;
}

// Applies a unit actor's projection to `unit` (config from it when the
// directory did not give one).
void apply_unit(std::string_view eid, const std::string& id, std::string_view bytes, UnitResult& unit) {
  if (bytes.empty()) {  // never changed by the handler: as if unread
    if (unit.id.empty()) {
      unit.id = id;
    }
    return;
  }
  const Doc doc(unit_key(eid, id), bytes);
  doc.expect_kind("unit");
  const msgpack::object& root = doc.root();
  if (const msgpack::object* config = doc.value(root, "config"); config != nullptr && unit.id.empty()) {
    read_config(doc, *config, unit);
  }
  if (unit.id.empty()) {
    unit.id = id;
  }
  unit.seen = true;
  unit.ballots = doc.uint(root, "ballots");
  unit.reported = doc.boolean(root, "reported");
  unit.reported_leaves = doc.uint(root, "reported_leaves");
  unit.reported_ballots = doc.uint(root, "reported_ballots");
  if (const msgpack::object* audit = doc.value(root, "audit"); audit != nullptr) {
    unit.handler_audit = doc.str(*audit, "status");
    unit.handler_differences = doc.strings(*audit, "differences");
  }
  unit.updated_ms = doc.integer(root, "updated_ms");
  for (const msgpack::object_kv& kv : doc.entries(root, "contests")) {
    const std::string cid = doc.as_str(kv.key, "contest id");
    Count& count = unit.contests[cid];
    count.ballots = doc.uint(kv.val, "ballots");
    count.overvotes = doc.uint(kv.val, "overvotes");
    count.undervotes = doc.uint(kv.val, "undervotes");
    for (const msgpack::object_kv& s : doc.entries(kv.val, "selections")) {
      count.selections[doc.as_str(s.key, "selection id")] = doc.as_uint(s.val, "selection votes");
    }
  }
}

std::vector<RoundResult> parse_rounds(std::string_view eid, const std::string& cid, std::string_view bytes) {
  if (bytes.empty()) {
    return {};
  }
  const Doc doc(contest_key(eid, cid) + " (rcv)", bytes);
  if (doc.root().type != msgpack::type::MAP) {
    doc.fail("is not a map");
  }
  std::vector<RoundResult> rounds;
  const msgpack::object* contests = doc.value(doc.root(), "contests");
  if (contests == nullptr) {
    return rounds;
  }
  const msgpack::object* contest = doc.value(*contests, cid);
  if (contest == nullptr) {
    return rounds;
  }
  for (const msgpack::object& r : doc.array(*contest, "rounds")) {
    RoundResult round;
    round.round = doc.uint(r, "round");
    round.exhausted = doc.uint(r, "exhausted");
    for (const msgpack::object_kv& kv : doc.entries(r, "tally")) {
      round.tallies[doc.as_str(kv.key, "tally key")] = doc.as_uint(kv.val, "tally");
    }
    if (std::string eliminated = doc.str(r, "eliminated"); !eliminated.empty()) {
      round.eliminated.push_back(std::move(eliminated));
    }
    if (std::string elected = doc.str(r, "elected"); !elected.empty()) {
      round.elected = std::move(elected);
    }
    rounds.push_back(std::move(round));
  }
  return rounds;
}

double percent_of(uint64_t part, uint64_t whole) {
  if (whole == 0) {
    return 0;
  }
  return std::round(10000.0 * static_cast<double>(part) / static_cast<double>(whole)) / 100.0;
}

}  // namespace

Audit audit_units(const std::vector<UnitResult>& units) {
  Audit audit;
  audit.computed = true;
  std::unordered_map<std::string, std::vector<const UnitResult*>> leaves_of;
  for (const UnitResult& unit : units) {
    if (unit.leaf) {
      for (const std::string& parent : unit.parents) {
        leaves_of[parent].push_back(&unit);
      }
    }
  }
  constexpr size_t kMaxDifferences = 1000;
  size_t omitted = 0;
  for (const UnitResult& unit : units) {
    if (unit.leaf) {
      continue;
    }
    for (const std::string& difference : unit.handler_differences) {  // the handler's own audit said so
      if (audit.differences.size() >= kMaxDifferences) {
        ++omitted;
        continue;
      }
      audit.differences.push_back("unit " + unit.id + " (its audit): " + difference);
    }
    const auto it = leaves_of.find(unit.id);
    const std::vector<const UnitResult*> no_leaves;
    const std::vector<const UnitResult*>& leaves = it == leaves_of.end() ? no_leaves : it->second;
    uint64_t leaf_ballots = 0;
    for (const UnitResult* leaf : leaves) {
      leaf_ballots += leaf->ballots;
    }
    if (leaf_ballots != unit.ballots) {
      ++audit.pending;
      continue;
    }
    ++audit.units_checked;
    std::map<std::string, Count> sums;
    for (const UnitResult* leaf : leaves) {
      for (const auto& [cid, count] : leaf->contests) {
        Count& sum = sums[cid];
        sum.ballots += count.ballots;
        sum.overvotes += count.overvotes;
        sum.undervotes += count.undervotes;
        for (const auto& [sid, votes] : count.selections) {
          sum.selections[sid] += votes;
        }
      }
    }
    auto differ = [&](const std::string& what, uint64_t have, uint64_t expected) {
      if (have == expected) {
        return;
      }
      if (audit.differences.size() >= kMaxDifferences) {
        ++omitted;
        return;
      }
      audit.differences.push_back("unit " + unit.id + " " + what + ": " + std::to_string(have) +
                                  ", its leaves sum to " + std::to_string(expected));
    };
    std::set<std::string> contest_ids;
    for (const auto& [cid, count] : unit.contests) {
      contest_ids.insert(cid);
    }
    for (const auto& [cid, count] : sums) {
      contest_ids.insert(cid);
    }
    static const Count kZero;
    for (const std::string& cid : contest_ids) {
      const auto have_it = unit.contests.find(cid);
      const auto sum_it = sums.find(cid);
      const Count& have = have_it == unit.contests.end() ? kZero : have_it->second;
      const Count& sum = sum_it == sums.end() ? kZero : sum_it->second;
      differ("contest " + cid + " ballots", have.ballots, sum.ballots);
      differ("contest " + cid + " overvotes", have.overvotes, sum.overvotes);
      differ("contest " + cid + " undervotes", have.undervotes, sum.undervotes);
      std::set<std::string> sids;
      for (const auto& [sid, v] : have.selections) {
        sids.insert(sid);
      }
      for (const auto& [sid, v] : sum.selections) {
        sids.insert(sid);
      }
      for (const std::string& sid : sids) {
        const auto h = have.selections.find(sid);
        const auto s = sum.selections.find(sid);
        differ("contest " + cid + " selection " + sid, h == have.selections.end() ? 0 : h->second,
               s == sum.selections.end() ? 0 : s->second);
      }
    }
  }
  if (omitted > 0) {
    audit.differences.push_back("... and " + std::to_string(omitted) + " more differences");
  }
  return audit;
}

Result<Results> build_results(const ResultsInput& input) {
  try {
    if (input.units.size() > kMaxResultsUnits) {
      return make_error(ErrorCode::kResourceExhausted, "election " + input.election_id + " has more than " +
                                                           std::to_string(kMaxResultsUnits) + " units");
    }
    ElectionState state = parse_election(input.election_id, input.election);
    const Definition& def = state.definition;
    Results out;
    out.id = def.id;
    out.name = def.name;
    out.date = def.date;
    out.source = def.source;
    out.reporting = {state.reported_leaves, def.leaves};
    // Complete once every precinct reported AND every roll-up read holds
    // all their ballots (below): a close's "reported" can arrive before the
    // last deltas of its ballots.
    bool complete = def.leaves > 0 && state.reported_leaves >= def.leaves;
    out.updated_ms = state.updated_ms;
    out.generated_ms = input.now_ms;
    out.top = def.top;
    out.candidates = def.candidates;
    out.parties = def.parties;

    // Units: directory configs first (directory order), then the actors' counts.
    std::vector<UnitResult> units;
    for (const std::string& page : input.directory_pages) {
      std::vector<UnitResult> part = parse_directory(input.election_id, page);
      for (UnitResult& unit : part) {
        units.push_back(std::move(unit));
      }
    }
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < units.size(); ++i) {
      index.emplace(units[i].id, i);
    }
    for (const auto& [id, bytes] : input.units) {
      auto it = index.find(id);
      if (it == index.end()) {
        UnitResult unit;
        apply_unit(input.election_id, id, bytes, unit);
        index.emplace(id, units.size());
        units.push_back(std::move(unit));
      } else {
        apply_unit(input.election_id, id, bytes, units[it->second]);
      }
    }
    // Zero-fill every in-scope contest and its selections from the definition.
    std::unordered_map<std::string, const ContestDef*> contest_by_id;
    for (const ContestDef& c : def.contests) {
      contest_by_id.emplace(c.id, &c);
    }
    for (UnitResult& unit : units) {
      for (const std::string& cid : unit.in_scope) {
        unit.contests[cid];
      }
      for (auto& [cid, count] : unit.contests) {
        if (auto it = contest_by_id.find(cid); it != contest_by_id.end()) {
          for (const SelectionResult& s : it->second->selections) {
            count.selections[s.id];
          }
        }
      }
    }
    auto unit_of = [&](const std::string& id) -> const UnitResult* {
      auto it = index.find(id);
      return it == index.end() ? nullptr : &units[it->second];
    };

    for (const ContestDef& c : def.contests) {
      ContestResult contest;
      contest.id = c.id;
      contest.name = c.name;
      contest.kind = c.kind;
      contest.district_id = c.district;
      contest.votes_allowed = c.votes_allowed;
      contest.rcv = c.rcv;
      contest.selections = c.selections;
      if (const UnitResult* district = unit_of(c.district)) {
        contest.district_name = district->name;
        contest.reporting = {district->leaf ? (district->reported ? 1U : 0U) : district->reported_leaves,
                             district->leaf ? 1 : district->leaves};
        if (auto it = district->contests.find(c.id); it != district->contests.end()) {
          const Count& count = it->second;
          contest.ballots = count.ballots;
          contest.overvotes = count.overvotes;
          contest.undervotes = count.undervotes;
          for (SelectionResult& s : contest.selections) {
            if (auto v = count.selections.find(s.id); v != count.selections.end()) {
              s.votes = v->second;
            }
          }
        }
      }
      uint64_t total = 0;
      for (const SelectionResult& s : contest.selections) {
        total += s.votes;
      }
      for (SelectionResult& s : contest.selections) {
        s.percent = percent_of(s.votes, total);
      }
      if (c.rcv) {
        if (auto it = input.rcv.find(c.id); it != input.rcv.end()) {
          contest.rounds = parse_rounds(input.election_id, c.id, it->second);
        }
      }
      out.contests.push_back(std::move(contest));
    }
    // Every roll-up read must be settled too: all its leaves' "reported"
    // arrived and it holds every ballot they reported with (all deltas).
    for (const UnitResult& unit : units) {
      const bool settled = unit.leaf || unit.leaves == 0 ||
                           (unit.seen && unit.reported_leaves >= unit.leaves && unit.ballots == unit.reported_ballots);
      complete = complete && settled;
    }
    out.status = complete ? "unofficial-complete" : "unofficial-partial";
    if (input.all_units) {
      out.audit = audit_units(units);
    }
    out.has_units = input.all_units;
    out.units = std::move(units);
    return out;
  } catch (const NotDefined& e) {
    return make_error(ErrorCode::kNotFound, e.what());
  } catch (const LayoutError& e) {
    return make_error(ErrorCode::kPluginFailed, e.what());
  }
}

Result<ElectionSummary> summarize_election(std::string_view eid, std::string_view election_projection) {
  try {
    ElectionState state = parse_election(eid, election_projection);
    ElectionSummary summary;
    summary.pages = state.definition.pages;
    summary.units = state.definition.units;
    std::set<std::string> seen;
    for (const ContestDef& c : state.definition.contests) {
      if (c.rcv) {
        summary.rcv_contests.push_back(c.id);
      }
      if (seen.insert(c.district).second) {
        summary.district_units.push_back(c.district);
      }
    }
    return summary;
  } catch (const NotDefined& e) {
    return make_error(ErrorCode::kNotFound, e.what());
  } catch (const LayoutError& e) {
    return make_error(ErrorCode::kPluginFailed, e.what());
  }
}

Result<std::vector<std::string>> directory_unit_ids(std::string_view page_projection) {
  if (page_projection.empty()) {
    return std::vector<std::string>{};
  }
  try {
    const Doc doc("a directory page", page_projection);
    doc.expect_kind("directory");
    std::vector<std::string> ids;
    for (const msgpack::object& config : doc.array(doc.root(), "units")) {
      ids.push_back(doc.str(config, "id", true));
    }
    return ids;
  } catch (const LayoutError& e) {
    return make_error(ErrorCode::kPluginFailed, e.what());
  }
}

Result<std::optional<std::string>> last_registered_election(std::string_view registry_projection) {
  if (registry_projection.empty()) {
    return std::optional<std::string>{};
  }
  try {
    const Doc doc(std::string(kElectionsKey), registry_projection);
    if (doc.root().type != msgpack::type::MAP) {
      doc.fail("is not a map");
    }
    const auto list = doc.array(doc.root(), "elections");
    if (list.empty()) {
      return std::optional<std::string>{};
    }
    const msgpack::object& last = list.back();
    if (last.type == msgpack::type::STR) {
      return std::optional<std::string>{doc.as_str(last, "elections")};
    }
    return std::optional<std::string>{doc.str(last, "id", true)};
  } catch (const LayoutError& e) {
    return make_error(ErrorCode::kPluginFailed, e.what());
  }
}

}  // namespace quorum::election
