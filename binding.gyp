{
  "variables": {
    "rn_have_gloo": "<!(node -p \"const fs = require('fs'); fs.existsSync('/usr/include/gloo/transport/tcp/device.h') && ['/usr/lib/libgloo.so', '/usr/lib/x86_64-linux-gnu/libgloo.so', '/usr/local/lib/libgloo.so'].some((f) => fs.existsSync(f))\")"
  },
  "targets": [
    {
      "target_name": "resnet_node",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native/core').filter(f => f.endsWith('.cc')).map(f => 'native/core/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f => f.endsWith('.cc')).map(f => 'native/cpu/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/binding').filter(f => f.endsWith('.cc')).map(f => 'native/binding/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/image').filter(f => f.endsWith('.cc')).map(f => 'native/image/' + f).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "RN_HAVE_JPEG=1"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fopenmp", "-fexceptions", "-Wno-unknown-pragmas"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-ldl", "-ljpeg"],
      "conditions": [
        ["rn_have_gloo=='true'", {
          "sources": ["<!@(node -p \"require('fs').readdirSync('native/gloo').filter(f => f.endsWith('.cc')).map(f => 'native/gloo/' + f).join(' ')\")"],
          "defines": ["RN_HAVE_GLOO"],
          "libraries": ["-lgloo"]
        }]
      ]
    }
  ]
}
