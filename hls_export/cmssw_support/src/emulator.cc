// Clean-room implementation of hls4mlEmulator::ModelLoader (see include/hls4ml/emulator.h):
// dlopen("<name>.so"), create_model() on load, destroy_model() when the model is released.
#include "hls4ml/emulator.h"

#include <dlfcn.h>
#include <stdexcept>

namespace hls4mlEmulator {

ModelLoader::ModelLoader(std::string const &model_name) : model_lib_(nullptr), model_name_(model_name) {
  std::string lib = model_name_ + ".so";
  model_lib_ = dlopen(lib.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (!model_lib_)
    throw std::runtime_error("hls4mlEmulator::ModelLoader: cannot load " + lib + ": " + dlerror());
}

ModelLoader::~ModelLoader() {
  if (model_lib_)
    dlclose(model_lib_);
}

std::shared_ptr<Model> ModelLoader::load_model() {
  auto create = reinterpret_cast<create_model_cls *>(dlsym(model_lib_, "create_model"));
  auto destroy = reinterpret_cast<destroy_model_cls *>(dlsym(model_lib_, "destroy_model"));
  if (!create || !destroy)
    throw std::runtime_error("hls4mlEmulator::ModelLoader: " + model_name_ +
                             ".so lacks create_model/destroy_model");
  return std::shared_ptr<Model>(create(), [destroy](Model *m) { destroy(m); });
}

}  // namespace hls4mlEmulator
