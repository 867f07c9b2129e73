//! posture's own inference kernels for MoveNet's graph: the fused convolution and depthwise
//! convolution nodes and the tract ops they register as, and the inverted-residual block op that
//! replaces a chain of three of them at load, and the separable resize that replaces each pair of
//! interpolation products, and the outer difference of the decoder.

pub mod choice;
pub mod conv;
pub mod dwconv;
pub mod fused;
pub mod fusion;
pub mod ops;
pub mod outer;
pub mod resize;
