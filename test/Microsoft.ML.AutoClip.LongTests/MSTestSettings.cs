using Microsoft.VisualStudio.TestTools.UnitTesting;

// TorchSharp tests share the native thread pool and a global RNG: run tests one at a time.
[assembly: DoNotParallelize]
