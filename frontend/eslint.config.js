// Lint rules of the GUI: ESLint's and typescript-eslint's recommended sets and the two rules of
// React hooks (the React Compiler's rules are left out: the GUI does not use the compiler, and
// the canvas keeps its node caches in refs on purpose); formatting is Prettier's alone
// (eslint-config-prettier turns overlapping rules off).
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["src/api/schema.d.ts"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    plugins: { "react-hooks": reactHooks },
    rules: {
      "react-hooks/rules-of-hooks": "error",
      "react-hooks/exhaustive-deps": "error",
      // "_name" marks a value left out on purpose (a property removed by destructuring).
      "@typescript-eslint/no-unused-vars": ["error", { varsIgnorePattern: "^_", argsIgnorePattern: "^_" }],
    },
  },
  prettier,
);
