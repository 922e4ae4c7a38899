// Clean-room header with the interface of CMS's hls4mlEmulatorExtras (hls4mlEmulator::Model and
// hls4mlEmulator::ModelLoader), written by triginfer for building and testing emulator plugins
// where hls4mlEmulatorExtras is not installed. A plugin built against it builds unchanged
// against the real one: it only derives from Model and exports create_model/destroy_model.
#ifndef HLS4ML_EMULATOR_H_
#define HLS4ML_EMULATOR_H_

#include <any>
#include <memory>
#include <string>

namespace hls4mlEmulator {

class Model {
public:
  virtual void prepare_input(std::any input) = 0;
  virtual void predict() = 0;
  virtual void read_result(std::any result) = 0;
  virtual ~Model() = default;
};

typedef Model *create_model_cls();
typedef void destroy_model_cls(Model *);

class ModelLoader {
public:
  explicit ModelLoader(std::string const &model_name);
  ~ModelLoader();
  std::shared_ptr<Model> load_model();

protected:
  void *model_lib_;
  std::string model_name_;
};

}  // namespace hls4mlEmulator

#endif
