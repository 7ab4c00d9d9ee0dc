// Synchronous wrappers over the asynchronous NodeService calls, for tests:
// each waits at most 30 s for the callback (a test failure otherwise).
#pragma once

#include <quorum/node/node_service.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace quorum::node::testing {

template <class T>
inline Result<T> wait(std::future<Result<T>>& future) {
  EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  return future.get();
}

inline Result<CommandReceipt> submit_sync(NodeService& node, Command command) {
  auto promise = std::make_shared<std::promise<Result<CommandReceipt>>>();
  auto future = promise->get_future();
  node.submit(std::move(command), [promise](Result<CommandReceipt> result) { promise->set_value(std::move(result)); });
  return wait(future);
}

inline Result<ActorView> read_actor_sync(NodeService& node, const std::string& key) {
  auto promise = std::make_shared<std::promise<Result<ActorView>>>();
  auto future = promise->get_future();
  node.read_actor(key, [promise](Result<ActorView> result) { promise->set_value(std::move(result)); });
  return wait(future);
}

inline Result<std::vector<LogEntryView>> read_log_sync(NodeService& node, const std::string& key, uint64_t from,
                                                size_t limit) {
  auto promise = std::make_shared<std::promise<Result<std::vector<LogEntryView>>>>();
  auto future = promise->get_future();
  node.read_log(key, from, limit,
                [promise](Result<std::vector<LogEntryView>> result) { promise->set_value(std::move(result)); });
  return wait(future);
}

}  // namespace quorum::node::testing
