// The whole public surface of the plugin host, for tools that want it all.
#pragma once

#include <quorum/host/assert.hpp>
#include <quorum/host/content_store.hpp>
#include <quorum/host/descriptor_check.hpp>
#include <quorum/host/divergence_log.hpp>
#include <quorum/host/handle_result.hpp>
#include <quorum/host/handler_version.hpp>
#include <quorum/host/history.hpp>
#include <quorum/host/library_loader.hpp>
#include <quorum/host/plugin_host.hpp>
#include <quorum/host/projection_runner.hpp>
#include <quorum/host/result.hpp>
