#include <quorum/store/background_env.hpp>
#include <quorum/store/leveldb_store.hpp>

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include <algorithm>

namespace quorum::store {

namespace {

leveldb::Slice slice(std::string_view bytes) { return leveldb::Slice(bytes.data(), bytes.size()); }
std::string_view view(const leveldb::Slice& bytes) { return std::string_view(bytes.data(), bytes.size()); }

Error from_status(const leveldb::Status& status, std::string_view what) {
  return make_error(ErrorCode::kIo, "leveldb " + std::string(what) + ": " + status.ToString());
}

leveldb::ReadOptions read_options() {
  leveldb::ReadOptions options;
  options.verify_checksums = true;
  return options;
}

}  // namespace

Result<std::unique_ptr<LevelDbStore>> LevelDbStore::open(const std::string& directory, const LevelDbOptions& options) {
  std::unique_ptr<LevelDbStore> store(new LevelDbStore());
  store->directory_ = directory;
  store->sync_ = options.sync;
  store->filter_.reset(leveldb::NewBloomFilterPolicy(10));
  store->cache_.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  if (options.background_nice < 0 || options.background_nice > 19) {
    return make_error(ErrorCode::kInvalidArgument,
                      "leveldb background_nice must be 0..19, not " + std::to_string(options.background_nice));
  }
  store->env_ = std::make_unique<BackgroundEnv>(options.background_nice);
  leveldb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.error_if_exists = options.error_if_exists;
  db_options.paranoid_checks = true;
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.block_cache = store->cache_.get();
  db_options.filter_policy = store->filter_.get();
  db_options.max_file_size = size_t{32} << 20;
  db_options.env = store->env_.get();
  leveldb::DB* db = nullptr;
  leveldb::Status status = leveldb::DB::Open(db_options, directory, &db);
  if (!status.ok()) {
    return from_status(status, "open " + directory);
  }
  store->db_.reset(db);
  return store;
}

// A reused leveldb::WriteBatch keeps its buffer; one that grew past this is
// dropped after its commit so a rare huge batch does not pin its memory.
constexpr size_t kKeptBatchBufferBytes = size_t{16} << 20;

LevelDbStore::~LevelDbStore() {
  db_.reset();  // before the cache, filter and environment it uses
}

void LevelDbStore::compact() { db_->CompactRange(nullptr, nullptr); }

Status LevelDbStore::commit(const WriteBatch& batch) {
  std::lock_guard<std::mutex> lock(commit_mutex_);
  return KvEventStore::commit(batch);
}

Result<std::optional<std::string>> LevelDbStore::kv_get(std::string_view key) const {
  std::string value;
  leveldb::Status status = db_->Get(read_options(), slice(key), &value);
  if (status.IsNotFound()) {
    return std::optional<std::string>{};
  }
  if (!status.ok()) {
    return from_status(status, "get");
  }
  return std::optional<std::string>(std::move(value));
}

Status LevelDbStore::kv_scan(std::string_view start, std::string_view end, const KvVisitor& visit) const {
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(read_options()));
  for (it->Seek(slice(start)); it->Valid(); it->Next()) {
    const std::string_view key = view(it->key());
    if (!end.empty() && key >= end) {
      break;
    }
    if (!visit(key, view(it->value()))) {
      break;
    }
  }
  if (!it->status().ok()) {
    return from_status(it->status(), "scan");
  }
  return {};
}

Status LevelDbStore::kv_apply(const KvWrites& writes) {
  // Called with commit_mutex_ held (commit()).
  if (batch_ == nullptr) {
    batch_ = std::make_unique<leveldb::WriteBatch>();
  }
  batch_->Clear();
  // Key order: neighbouring memtable inserts share their search path (see
  // the header). Stable: a later write of the same key still lands last.
  order_.clear();
  order_.reserve(writes.writes.size());
  for (const KvWrite& write : writes.writes) {
    order_.push_back(&write);
  }
  std::stable_sort(order_.begin(), order_.end(), [](const KvWrite* a, const KvWrite* b) { return a->key < b->key; });
  for (const KvWrite* write : order_) {
    if (write->is_delete) {
      batch_->Delete(slice(write->key));
    } else {
      batch_->Put(slice(write->key), slice(write->value));
    }
  }
  leveldb::WriteOptions options;
  options.sync = sync_;
  leveldb::Status status = db_->Write(options, batch_.get());
  if (batch_->ApproximateSize() > kKeptBatchBufferBytes) {
    batch_.reset();
  }
  if (order_.capacity() > kMaxBatchOps / 4) {
    order_ = {};
  }
  if (!status.ok()) {
    return from_status(status, "write");
  }
  return {};
}

}  // namespace quorum::store
