// CI has no GPU: Dawn runs on the software Vulkan driver unless the caller chose one (the rule lives in
// @recurrent/conformance/software-gpu).
import '@recurrent/conformance/use-software-gpu';
