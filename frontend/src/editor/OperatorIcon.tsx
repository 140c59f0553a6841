// The operator's icon: its Font Awesome icon when metadata names one, else initials, on its
// colours.
import { Center } from "@mantine/core";

import type { OperatorLook } from "./operators";

export function OperatorIcon({ look, size = 28 }: { look: OperatorLook; size?: number }) {
  return (
    <Center
      aria-hidden
      w={size}
      h={size}
      data-icon={look.iconClass ?? undefined}
      style={{
        flex: "none",
        borderRadius: 6,
        fontSize: size * (look.iconClass ? 0.5 : 0.4),
        fontWeight: 700,
        color: look.background,
        background: look.color,
      }}
    >
      {look.iconClass ? <i className={look.iconClass} /> : look.icon}
    </Center>
  );
}
