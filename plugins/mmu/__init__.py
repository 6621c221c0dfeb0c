"""VMSAv8-64 MMU: stage 1 and stage 2 translation, AT and TLBI (feature "mmu")."""
