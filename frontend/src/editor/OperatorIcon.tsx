// The operator's icon as text (icon fonts are not bundled): initials on its colours.
import { Center } from "@mantine/core";

import type { OperatorLook } from "./operators";

export function OperatorIcon({ look, size = 28 }: { look: OperatorLook; size?: number }) {
  return (
    <Center
      aria-hidden
      w={size}
      h={size}
      style={{
        flex: "none",
        borderRadius: 6,
        fontSize: size * 0.4,
        fontWeight: 700,
        color: look.background,
        background: look.color,
      }}
    >
      {look.icon}
    </Center>
  );
}
